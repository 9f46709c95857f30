// Test fixture: writes a tiny deterministic CNN as an ONNX file plus a manifest that matches it
// (models/<name>/<version>/{model.onnx,manifest.json}), without python or any protobuf package:
// the few ONNX messages it needs are encoded by hand (protobuf wire format, field numbers from onnx.proto).
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ModelManifest } from '../../common/src/model-manifest.js';

// --- protobuf wire format -------------------------------------------------------------------
type Field = Uint8Array;

function varint(value: number): number[] {
  const bytes: number[] = [];
  let v = value;
  while (v >= 0x80) {
    bytes.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  bytes.push(v);
  return bytes;
}
const intField = (field: number, value: number): Field => Uint8Array.from([...varint(field << 3), ...varint(value)]);
function bytesField(field: number, payload: Uint8Array): Field {
  return Uint8Array.from([...varint((field << 3) | 2), ...varint(payload.length), ...payload]);
}
const stringField = (field: number, value: string): Field => bytesField(field, new TextEncoder().encode(value));
const message = (...fields: Field[]): Uint8Array => Buffer.concat(fields);

// --- ONNX messages (onnx.proto field numbers) -------------------------------------------------
const FLOAT = 1;
const ATTR_INT = 2;
const ATTR_INTS = 7;

function tensor(name: string, dims: number[], data: Float32Array): Uint8Array {
  // TensorProto: dims=1, data_type=2, name=8, raw_data=9 (little-endian)
  return message(...dims.map((d) => intField(1, d)), intField(2, FLOAT), stringField(8, name),
    bytesField(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength)));
}
function attrInts(name: string, values: number[]): Uint8Array {
  // AttributeProto: name=1, ints=8, type=20
  return message(stringField(1, name), ...values.map((v) => intField(8, v)), intField(20, ATTR_INTS));
}
function attrInt(name: string, value: number): Uint8Array {
  return message(stringField(1, name), intField(3, value), intField(20, ATTR_INT));
}
function node(opType: string, inputs: string[], outputs: string[], attributes: Uint8Array[] = []): Uint8Array {
  // NodeProto: input=1, output=2, name=3, op_type=4, attribute=5
  return message(...inputs.map((i) => stringField(1, i)), ...outputs.map((o) => stringField(2, o)),
    stringField(3, outputs[0]!), stringField(4, opType), ...attributes.map((a) => bytesField(5, a)));
}
function valueInfo(name: string, shape: (number | string)[]): Uint8Array {
  // ValueInfoProto{name=1, type=2}; TypeProto{tensor_type=1}; Tensor{elem_type=1, shape=2}; Shape{dim=1};
  // Dimension{dim_value=1 | dim_param=2}
  const dims = shape.map((d) => bytesField(1, typeof d === 'number' ? intField(1, d) : stringField(2, d)));
  const tensorType = message(intField(1, FLOAT), bytesField(2, message(...dims)));
  return message(stringField(1, name), bytesField(2, bytesField(1, tensorType)));
}

export interface TinyCnnOptions {
  /** Input height and width (square). */
  size?: number;
  /** Seed of the deterministic weights; different seeds give different models. */
  seed?: number;
  inputName?: string;
  outputName?: string;
  /** Every run whose batch holds a normalized value >= 1 (any bright image) fails in onnxruntime (a Gather
   *  index out of bounds); a run of zeros (warm-up) or of dark images succeeds. Stands in for a failing device. */
  failOnBrightInput?: boolean;
}

/**
 * Conv3x3(3→8, stride 2)+ReLU → Conv3x3(8→16, stride 2)+ReLU → GlobalAveragePool → Flatten → Gemm(16→2):
 * input [N,3,size,size] float32, output logits [N,2].
 */
export function buildTinyCnn(options: TinyCnnOptions = {}): Uint8Array {
  const { size = 64, inputName = 'input', outputName = 'logits' } = options;
  let seed = options.seed ?? 12345;
  const random = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
    return seed / 0x7fffffff - 0.5;
  };
  const weights = (dims: number[], scale: number) => {
    const data = new Float32Array(dims.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = random() * scale;
    return data;
  };
  const conv = [attrInts('kernel_shape', [3, 3]), attrInts('pads', [1, 1, 1, 1]), attrInts('strides', [2, 2])];
  const initializers = [
    tensor('w0', [8, 3, 3, 3], weights([8, 3, 3, 3], 0.9)), tensor('b0', [8], weights([8], 0.1)),
    tensor('w1', [16, 8, 3, 3], weights([16, 8, 3, 3], 0.5)), tensor('b1', [16], weights([16], 0.1)),
    tensor('fcw', [2, 16], weights([2, 16], 4)), tensor('fcb', [2], weights([2], 0.1)),
  ];
  const nodes = [
    node('Conv', [inputName, 'w0', 'b0'], ['conv0'], conv), node('Relu', ['conv0'], ['relu0']),
    node('Conv', ['relu0', 'w1', 'b1'], ['conv1'], conv), node('Relu', ['conv1'], ['relu1']),
    node('GlobalAveragePool', ['relu1'], ['gap']), node('Flatten', ['gap'], ['flat'], [attrInt('axis', 1)]),
    node('Gemm', ['flat', 'fcw', 'fcb'], [options.failOnBrightInput ? 'gemm' : outputName], [attrInt('transB', 1)]),
  ];
  if (options.failOnBrightInput) {
    // logits + gather([0], int64(max(input))): index 0 or -1 are in bounds, >= 1 is not.
    initializers.push(tensor('one_zero', [1], new Float32Array([0])));
    nodes.push(node('ReduceMax', [inputName], ['peak'], [attrInt('keepdims', 0)]), node('Cast', ['peak'], ['peak_index'], [attrInt('to', 7)]),
      node('Gather', ['one_zero', 'peak_index'], ['gate']), node('Add', ['gemm', 'gate'], [outputName]));
  }
  // GraphProto: node=1, name=2, initializer=5, input=11, output=12
  const graph = message(...nodes.map((n) => bytesField(1, n)), stringField(2, 'tiny_cnn'),
    ...initializers.map((t) => bytesField(5, t)),
    bytesField(11, valueInfo(inputName, ['N', 3, size, size])), bytesField(12, valueInfo(outputName, ['N', 2])));
  // ModelProto: ir_version=1, producer_name=2, graph=7, opset_import=8 (OperatorSetIdProto{domain=1, version=2})
  return message(intField(1, 8), stringField(2, 'quicksilver-test'), bytesField(7, graph),
    bytesField(8, message(stringField(1, ''), intField(2, 17))));
}

export interface WrittenModel {
  manifest: ModelManifest;
  manifestPath: string;
  modelPath: string;
}

/** Writes <modelsDir>/<name>/<version>/{model.onnx,manifest.json}; `manifestOverrides` may break it on purpose. */
export async function writeTinyCnnModel(
  modelsDir: string,
  options: TinyCnnOptions & { name?: string; version?: string; manifestOverrides?: Partial<ModelManifest> } = {},
): Promise<WrittenModel> {
  const { name = 'tiny-cnn', version = '1.0.0', size = 64, inputName = 'input', outputName = 'logits' } = options;
  const dir = join(modelsDir, name, version);
  await mkdir(dir, { recursive: true });
  const bytes = buildTinyCnn(options);
  const modelPath = join(dir, 'model.onnx');
  await writeFile(modelPath, bytes);
  const manifest: ModelManifest = {
    schemaVersion: 1,
    name,
    version,
    description: 'tiny deterministic CNN for tests',
    file: 'model.onnx',
    sha256: createHash('sha256').update(bytes).digest('hex'),
    input: { name: inputName, layout: 'NCHW', shape: [-1, 3, size, size], dtype: 'float32' },
    output: { name: outputName, kind: 'logits' },
    preprocessing: {
      resize: { width: size, height: size, kernel: 'linear', fit: 'fill' },
      colorOrder: 'RGB',
      normalization: { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
    },
    labels: ['clean', 'mercury'],
    positiveLabel: 'mercury',
    threshold: 0.5,
    validation: { dataset: 'none (test fixture)', images: 1, accuracy: 0.5, precision: 0.5, recall: 0.5, f1: 0.5 },
    referenceScores: { binEdges: [0, 0.5, 1], counts: [1, 1] },
    trainedAt: '2025-01-01T00:00:00Z',
    ...options.manifestOverrides,
  };
  const manifestPath = join(dir, 'manifest.json');
  await writeFile(manifestPath, JSON.stringify(manifest, null, 2));
  return { manifest, manifestPath, modelPath };
}
