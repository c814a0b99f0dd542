import { runMain } from '../kit/index.js';
import { orderService } from './app.js';

await runMain(orderService);
