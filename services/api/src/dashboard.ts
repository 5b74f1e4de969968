import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Express } from 'express';
import type { Queue } from 'bullmq';

export const DASHBOARD_PATH = '/admin/queues';

/** bull-board, read-only: operators look; changes go through the API so records stay true. */
export function mountDashboard(app: Express, queue: Queue): void {
  const server = new ExpressAdapter();
  server.setBasePath(DASHBOARD_PATH);
  createBullBoard({
    queues: [new BullMQAdapter(queue, { readOnlyMode: true, allowRetries: false })],
    serverAdapter: server,
    options: { uiConfig: { boardTitle: 'imgport' } },
  });
  app.use(DASHBOARD_PATH, server.getRouter());
}
