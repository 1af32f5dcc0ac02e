// A horizontal bar chart in inline SVG: one bar per item, labelled with its name and value.

import {s, uid} from './dom.js';

const ROW = 28;
const LABEL_WIDTH = 180;
const VALUE_WIDTH = 150;
const WIDTH = 760;

function shorten(text, max = 26) {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** items: [{label, value, text}] (text: how the value reads, e.g. "1,204 objects · 3.2 MiB"). */
export function barChart(title, items) {
  const titleId = uid('chart-title');
  const descId = uid('chart-desc');
  const height = Math.max(1, items.length) * ROW + 16;
  const max = Math.max(1, ...items.map((i) => i.value));
  const barSpace = WIDTH - LABEL_WIDTH - VALUE_WIDTH - 16;
  const svg = s('svg', {class: 'chart', viewBox: `0 0 ${WIDTH} ${height}`, role: 'img',
    'aria-labelledby': `${titleId} ${descId}`});
  svg.append(s('title', {id: titleId}, title));
  svg.append(s('desc', {id: descId}, items.length
    ? items.map((i) => `${i.label}: ${i.text}`).join('; ')
    : 'No data yet.'));
  svg.append(s('line', {class: 'axis', x1: LABEL_WIDTH, x2: LABEL_WIDTH, y1: 4, y2: height - 8}));
  items.forEach((item, index) => {
    const y = 8 + index * ROW;
    const width = Math.max(2, (item.value / max) * barSpace);
    const bar = s('g', {class: 'row', 'data-label': item.label},
      s('title', {}, `${item.label}: ${item.text}`),
      s('text', {x: LABEL_WIDTH - 8, y: y + 15, 'text-anchor': 'end'}, shorten(item.label)),
      s('rect', {class: 'bar', x: LABEL_WIDTH + 1, y: y + 2, width: width.toFixed(1), height: ROW - 8, rx: 3}),
      s('text', {x: LABEL_WIDTH + width + 8, y: y + 15}, item.text));
    svg.append(bar);
  });
  if (!items.length) {
    svg.append(s('text', {x: LABEL_WIDTH + 8, y: 22}, 'No buckets yet.'));
  }
  return svg;
}
