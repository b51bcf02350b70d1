/** Plain-text tables with aligned columns (numbers right-aligned, text left-aligned). */
export interface Column {
  title: string;
  align?: 'left' | 'right';
}

export function formatTable(columns: readonly Column[], rows: readonly (readonly string[])[]): string {
  const widths = columns.map((c, i) => Math.max(c.title.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    columns.map((c, i) => {
      const cell = cells[i] ?? '';
      return c.align === 'right' ? cell.padStart(widths[i]) : cell.padEnd(widths[i]);
    }).join('  ').trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(columns.map((c) => c.title)), rule, ...rows.map(line)].join('\n');
}

/** Fixed-point number, or '-' when the value is missing. */
export function fmt(x: number | null | undefined, digits: number): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(digits);
}
