"""Test plugins installed through real entry points (group "crm.plugins")."""
