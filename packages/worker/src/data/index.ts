export { BLANK_DATASET, loadDataset, clearDatasetCache, fashionSplitOrder, FASHION_SPLIT_SEED, FASHION_TEST_COUNT, type Dataset } from './datasets.ts';
export { parseIdxImages, type IdxImages } from './idx.ts';
export { generateShapes, drawShape, SHAPES_SIZE } from './shapes.ts';
