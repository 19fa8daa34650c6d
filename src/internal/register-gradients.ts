// tfjs-core's Node entry registers no gradient functions, and its ESM
// `register_all_gradients` module cannot be loaded by Node. tfjs-layers (a
// peer dependency) registers all of core's gradients from both its Node
// bundle and its ESM build, so importing it makes `tf.grad` work for users
// who import only `@tensorflow/tfjs-core`.
import '@tensorflow/tfjs-layers';
