import { formatBytes, h, svg } from './dom'

export interface UsageBar {
  label: string
  logical: number
  physical: number
}

const rowHeight = 44
const labelWidth = 180
const barWidth = 420
const valueWidth = 110

/**
 * Horizontal bars of logical against physical bytes, one pair per row, drawn
 * as SVG elements (colours by class in app.css, so no inline style).
 */
export function usageChart(rows: UsageBar[]): Element {
  if (rows.length === 0) return h('p', { class: 'muted' }, 'No objects stored yet.')
  const largest = Math.max(1, ...rows.flatMap((row) => [row.logical, row.physical]))
  const width = labelWidth + barWidth + valueWidth
  const height = rows.length * rowHeight + 28
  const bar = (y: number, value: number, kind: 'logical' | 'physical') => [
    svg('rect', { class: `bar ${kind}`, x: labelWidth, y, height: 14, width: Math.max(1, (value / largest) * barWidth) }, svg('title', {}, `${kind}: ${formatBytes(value)}`)),
    svg('text', { class: 'value', x: labelWidth + barWidth + 6, y: y + 11 }, formatBytes(value)),
  ]
  return svg(
    'svg',
    { class: 'chart', viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': 'Logical and physical bytes' },
    ...rows.flatMap((row, index) => {
      const y = index * rowHeight + 4
      return [svg('text', { class: 'label', x: 0, y: y + 18 }, row.label), ...bar(y, row.logical, 'logical'), ...bar(y + 17, row.physical, 'physical')]
    }),
    svg('rect', { class: 'bar logical', x: labelWidth, y: height - 16, width: 12, height: 12 }),
    svg('text', { class: 'legend', x: labelWidth + 16, y: height - 6 }, 'logical (every object)'),
    svg('rect', { class: 'bar physical', x: labelWidth + 190, y: height - 16, width: 12, height: 12 }),
    svg('text', { class: 'legend', x: labelWidth + 206, y: height - 6 }, 'physical (distinct blobs)'),
  )
}
