// `node --import tsx --import <this file>`: the child processes the tests
// start (startScript) print no tfjs Node.js banner, nor do their worker threads.
import { dropTfjsNodeBanner } from './quiet-tfjs';

dropTfjsNodeBanner();
