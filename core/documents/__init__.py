"""Documents from templates (contracts, proposals, invoices, letters, acts) and attachments."""
