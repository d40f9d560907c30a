// Benchmarks print one JSON document (for machines) and then a table (for people).

export function printReport(title: string, rows: Record<string, unknown>[], extra: Record<string, unknown> = {}): void {
  console.log(JSON.stringify({ title, rows, ...extra }, null, 2));
  console.log(`\n${title}`);
  if (rows.length === 0) return;
  const columns = Object.keys(rows[0]);
  const widths = columns.map((column) => Math.max(column.length, ...rows.map((row) => String(row[column]).length)));
  const line = (cells: string[]) => cells.map((cell, i) => cell.padStart(widths[i])).join('  ');
  console.log(line(columns));
  console.log(widths.map((width) => '-'.repeat(width)).join('  '));
  for (const row of rows) console.log(line(columns.map((column) => String(row[column]))));
  for (const [key, value] of Object.entries(extra)) console.log(`${key}: ${JSON.stringify(value)}`);
}
