"""Sales documents: deal variables for document templates (lines, totals, VAT, amount in
words, payment details), default proposal and invoice templates, numbered invoices with
their payments, and their pages, panels and API."""
