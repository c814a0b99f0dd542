import { runMain } from '../kit/index.js';
import { productService } from './app.js';

await runMain(productService);
