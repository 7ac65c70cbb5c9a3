export { selectBackend, getTf, currentBackend, ensureGradientsAndChainedOps } from './select-backend.ts';
export type { BackendInfo, BackendName, BackendPreference, SelectBackendOptions, Tf } from './select-backend.ts';
export { registerWasmKernels, setBackpropInputStrategy, setStockKernels } from './wasm-kernels.ts';
export type { BackpropInputStrategy } from './wasm-kernels.ts';
export { registerNativeKernels, setNativeKernelsActive, nativeKernelsActive, nativeKernelCalls, FILM_BLOCK, FILM_BLOCK_GRAD, AFFINE_LAYER, AFFINE_LAYER_GRAD, BCE_LOGITS, BCE_LOGITS_GRAD } from './native-kernels.ts';
// Tensor types for code that must not import tfjs-core itself (e.g. bench/, which has no node_modules of its own).
export type { Tensor, Tensor1D, Tensor2D, Tensor3D, Tensor4D, Scalar, Variable, Rank, TensorContainer } from '@tensorflow/tfjs-core';
