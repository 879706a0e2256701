/** The in-memory task results of live runs: what they answer, and when they give up and forget a run. */
import { describe, expect, it } from 'vitest';
import { createLiveTasks } from '../../src/store/live-tasks.js';
import { taskKey } from '../../src/protocol/task-key.js';

describe('live tasks', () => {
  it('keys changed tasks by play, task and occurrence, with their seq and time', () => {
    const live = createLiveTasks();
    live.begin(7);
    live.add(7, 1, 1000, 'Web', 'copy', true);
    live.add(7, 2, 2000, 'Web', 'restart', false);
    live.add(7, 3, 3000, 'Web', 'copy', true);
    live.add(7, 4, 4000, 'Db', 'copy', true);
    expect(live.changedOf(7)).toEqual([
      { seq: 1, time: 1000, key: taskKey('Web', 'copy', 1) },
      { seq: 3, time: 3000, key: taskKey('Web', 'copy', 2) },
      { seq: 4, time: 4000, key: taskKey('Db', 'copy', 1) },
    ]);
  });

  it('holds only runs it saw begin, and forgets a run whose results come out of order', () => {
    const live = createLiveTasks();
    live.add(1, 1, 0, 'p', 't', true);
    expect(live.changedOf(1)).toBeUndefined();
    live.begin(2);
    live.add(2, 5, 0, 'p', 'a', true);
    live.add(2, 5, 0, 'p', 'b', true);
    expect(live.changedOf(2)).toBeUndefined();
    live.begin(3);
    live.add(3, 5, 0, 'p', 'a', false);
    live.add(3, 4, 0, 'p', 'b', false);
    expect(live.changedOf(3)).toBeUndefined();
  });

  it('names that would collide when joined stay apart', () => {
    const live = createLiveTasks();
    live.begin(1);
    live.add(1, 1, 0, 'a\0b', 'c', true);
    live.add(1, 2, 0, 'a', 'b\0c', true);
    expect(live.changedOf(1)!.map((t) => t.key)).toEqual([taskKey('a\0b', 'c', 1), taskKey('a', 'b\0c', 1)]);
  });

  it('stays within its bounds: oldest run evicted, a long run dropped, the names started afresh', () => {
    const live = createLiveTasks({ runs: 2, tasksPerRun: 3, names: 4 });
    live.begin(1);
    live.begin(2);
    live.begin(3);
    expect(live.size).toBe(2);
    expect(live.changedOf(1)).toBeUndefined();
    expect(live.changedOf(2)).toEqual([]);

    for (let seq = 1; seq <= 4; seq++) live.add(3, seq, 0, 'p', 'same', true);
    expect(live.changedOf(3)).toBeUndefined();

    const names = createLiveTasks({ runs: 10, tasksPerRun: 100, names: 4 });
    names.begin(1);
    for (let seq = 1; seq <= 4; seq++) names.add(1, seq, 0, 'p', `t${seq}`, false);
    expect(names.changedOf(1)).toHaveLength(0);
    names.add(1, 5, 0, 'p', 't5', true);
    expect(names.size).toBe(0);
  });
});
