"""Looking after an instance's data: backup, restore and verify (their commands are in cli.ops)."""
