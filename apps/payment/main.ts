import { runMain } from '../kit/index.js';
import { paymentService } from './app.js';

await runMain(paymentService);
