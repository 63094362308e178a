"""`cnndsl view`: one self-contained, interactive HTML page of a network (no network access needed)."""
