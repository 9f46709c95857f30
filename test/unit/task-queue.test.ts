import assert from 'node:assert/strict';
import { it } from 'node:test';
import { TaskQueue, type PriorityClass } from '../../coordinator/src/task-queue.js';

interface Item { priority: PriorityClass; station: string; id: number }

it('TaskQueue: strict priority, round-robin stations, FIFO per station, unshift and remove', { timeout: 5000 }, () => {
  const queue = new TaskQueue<Item>();
  const items: Item[] = [];
  const add = (priority: PriorityClass, station: string) => {
    const item = { priority, station, id: items.length };
    items.push(item);
    queue.push(item);
    return item;
  };
  add('bulk', 'r'); add('realtime', 'a'); add('realtime', 'a'); add('realtime', 'b'); const removed = add('realtime', 'c'); add('realtime', 'a');
  assert.equal(queue.size, 6);
  assert.equal(queue.sizeOf('realtime'), 5);
  assert.ok(queue.remove(removed));
  assert.equal(queue.remove(removed), false);
  const first = queue.take(() => true)!;
  assert.equal(first.id, 1);
  queue.unshift(first);
  const order: number[] = [];
  for (let item = queue.take(() => true); item; item = queue.take(() => true)) order.push(item.id);
  // Station a was just served, so b goes next; the unshifted item is back at the head of a's lane; bulk last.
  assert.deepEqual(order, [3, 1, 2, 5, 0]);
  assert.equal(queue.size, 0);
  add('realtime', 'x');
  assert.equal(queue.take((item) => item.station === 'y'), undefined, 'nothing acceptable -> nothing taken');
  assert.equal(queue.size, 1);
});
