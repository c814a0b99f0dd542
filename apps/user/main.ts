import { runMain } from '../kit/index.js';
import { userService } from './app.js';

await runMain(userService);
