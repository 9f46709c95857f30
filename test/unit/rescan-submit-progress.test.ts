// The submission checkpoint only moves over rows finished without a gap, whatever order the
// publications are acknowledged in.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ContiguousProgress } from '../../cli/src/rescan/submit.js';

describe('submission checkpoint progress', () => {
  it('advances over the rows finished without a gap, counting bad rows and keeping the highest work sequence', () => {
    const progress = new ContiguousProgress({ rowsDone: 10, invalidRowsDone: 1, lineDone: 11, workSequence: 40 });
    progress.complete(12, 13, false, 43);
    progress.complete(13, 14, true);
    assert.deepEqual([progress.rowsDone, progress.lineDone, progress.workSequence], [10, 11, 40], 'row 11 is still out: nothing moves');
    progress.complete(11, 12, false, 42);
    assert.deepEqual([progress.rowsDone, progress.invalidRowsDone, progress.lineDone, progress.workSequence], [13, 2, 14, 43]);
    progress.complete(14, 15, false, 0); // queued before the interruption: no new sequence
    assert.deepEqual([progress.rowsDone, progress.workSequence], [14, 43]);
  });
});
