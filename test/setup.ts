// Every test file starts on the cpu backend; describeEachBackend switches per suite.
import * as tf from '@tensorflow/tfjs-core';
import './helpers/backends';

await tf.setBackend('cpu');
