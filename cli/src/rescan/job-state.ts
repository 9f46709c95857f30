// `rescan pause|resume|cancel`: a job state change, decided inside the job record's compare-and-set
// update so that a concurrent change (another CLI, a coordinator completing the job) is seen: a
// cancelled or completed job is never brought back by a pause or resume that read it earlier.
import { QuicksilverError } from '../../../common/src/errors.js';
import type { RescanJetStream } from '../../../common/src/rescan/adapters/jetstream-rescan.js';
import type { JobRecord } from '../../../common/src/rescan/records.js';

export type JobStateTarget = 'paused' | 'running' | 'cancelled';

/** The states each target may be reached from. */
export const ALLOWED_FROM: Record<JobStateTarget, JobRecord['state'][]> = {
  paused: ['submitting', 'running'], running: ['paused'], cancelled: ['submitting', 'running', 'paused'],
};

/** Changes the job's state (resume of a job still being submitted goes back to `submitting`); throws naming the state found. */
export async function changeJobState(store: Pick<RescanJetStream, 'updateJob' | 'purgeWork'>, jobId: string, target: JobStateTarget): Promise<{ from: JobRecord['state']; to: JobRecord['state'] }> {
  let from: JobRecord['state'] | undefined;
  const updated = await store.updateJob(jobId, (job) => {
    if (!ALLOWED_FROM[target].includes(job.state)) throw new QuicksilverError('INVALID_METADATA', `job ${jobId} is ${job.state}: cannot make it ${target}`);
    from = job.state;
    return { ...job, state: target === 'running' && job.totalRows === undefined ? 'submitting' : target };
  });
  if (target === 'cancelled') await store.purgeWork(jobId);
  return { from: from!, to: updated.state };
}
