"""The product catalog of the sales plugin: products and services with groups, price lists,
import from CSV/XLSX and export, its pages and its API."""
