import { runMain } from '../kit/index.js';
import { notificationService } from './app.js';

await runMain(notificationService);
