import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

/**
 * Saves a model in memory and loads it back, with the topology passed
 * through JSON on the way: every `getConfig` must be plain JSON.
 */
export async function roundTrip(model: tfl.LayersModel): Promise<tfl.LayersModel> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  const topology = JSON.parse(JSON.stringify(artifacts!.modelTopology));
  return tfl.loadLayersModel(tf.io.fromMemory({ ...artifacts!, modelTopology: topology }));
}
