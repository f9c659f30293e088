/** When the data lane starts: after a few transfers, or at once; never after it is closed. */
import { describe, expect, it, vi } from 'vitest';

import { LaneConnections } from '../../src/client/lane/connections.js';

const settings = { timeouts: { connectMs: 1000, idleMs: 1000 }, connections: 2 };

describe('the data lane starts', () => {
  it('after `startAfter` transfers, loading in the background; listings do not count', async () => {
    const lane = new LaneConnections({ ...settings, startAfter: 3 });
    for (let i = 0; i < 5; i++) expect(await lane.agent(false)).toBeUndefined();
    expect(await lane.agent(true)).toBeUndefined();
    expect(await lane.agent(true)).toBeUndefined();
    // The third starts the load; it answers before the load is done.
    expect(await lane.agent(true)).toBeUndefined();
    await vi.waitFor(async () => {
      expect(await lane.agent(false)).toBeDefined();
    });
    lane.destroy();
  });

  it('with the first request when `startAfter` is 0', async () => {
    const lane = new LaneConnections({ ...settings, startAfter: 0 });
    expect(await lane.agent(false)).toBeDefined();
    lane.destroy();
  });

  it('never, once closed', async () => {
    const lane = new LaneConnections({ ...settings, startAfter: 1 });
    lane.destroy();
    expect(await lane.agent(true)).toBeUndefined();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await lane.agent(true)).toBeUndefined();
  });
});
