"""Reports from core and plugins: filter forms, tables, charts and CSV/XLSX files."""
