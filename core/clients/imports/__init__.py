"""Importing clients from CSV and XLSX files: upload, column mapping, preview, background run."""
