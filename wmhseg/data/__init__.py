"""Data: importers, datalists and the embedded phantom data of wmhseg."""
