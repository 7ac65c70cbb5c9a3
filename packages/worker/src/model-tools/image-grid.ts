/**
 * Tiles images into one PNG (pngjs). Layout, so callers and tests can predict the size:
 * a grid of `rows` × `cols` tiles per panel, each tile the image's H×W with no gap;
 * panels side by side, separated by one blank tile width. Pixel values are the
 * decoded Bernoulli means in [0, 1], written as 8-bit grey (1 channel) or RGB (3).
 */
import { PNG } from 'pngjs';

export interface Panel {
  rows: number;
  cols: number;
  /** Row-major tiles, each height·width·channels values in [0, 1]; missing tiles stay blank. */
  tiles: Float32Array[];
}

export interface GridGeometry {
  height: number;
  width: number;
  channels: number;
}

export function gridSize(panels: readonly Pick<Panel, 'rows' | 'cols'>[], g: GridGeometry): { width: number; height: number } {
  const cols = panels.reduce((s, p) => s + p.cols, 0) + Math.max(0, panels.length - 1);
  const rows = Math.max(...panels.map((p) => p.rows));
  return { width: cols * g.width, height: rows * g.height };
}

/** Columns of a near-square grid of n tiles. */
export function squareCols(n: number): number {
  return Math.ceil(Math.sqrt(n));
}

export function renderPng(panels: readonly Panel[], g: GridGeometry): { png: Buffer; width: number; height: number } {
  const { width, height } = gridSize(panels, g);
  const png = new PNG({ width, height, colorType: 6 });
  png.data.fill(255); // blank = white, opaque
  let x0 = 0;
  for (const panel of panels) {
    panel.tiles.forEach((tile, i) => {
      const tx = x0 + (i % panel.cols) * g.width;
      const ty = Math.floor(i / panel.cols) * g.height;
      for (let y = 0; y < g.height; y++) {
        for (let x = 0; x < g.width; x++) {
          const src = (y * g.width + x) * g.channels;
          const dst = ((ty + y) * width + tx + x) * 4;
          for (let c = 0; c < 3; c++) {
            const v = tile[src + (g.channels === 1 ? 0 : c)] ?? 0;
            png.data[dst + c] = Math.round(255 * Math.min(1, Math.max(0, v)));
          }
          png.data[dst + 3] = 255;
        }
      }
    });
    x0 += (panel.cols + 1) * g.width;
  }
  return { png: PNG.sync.write(png), width, height };
}
