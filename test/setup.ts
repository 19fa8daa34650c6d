// Every test file starts on the cpu backend; describeEachBackend switches per suite.
import * as tf from '@tensorflow/tfjs-core';
import './helpers/backends';
import { dropTfjsNodeBanner } from './helpers/quiet-tfjs';

// tfjs-backend-cpu's "Hi, looks like you are running TensorFlow.js in Node.js" once per file.
dropTfjsNodeBanner();
await tf.setBackend('cpu');
