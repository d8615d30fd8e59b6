"""Stage automation: rules run on entering a stage, stage time limits, paid invoices."""
