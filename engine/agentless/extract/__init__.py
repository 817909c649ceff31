"""Extraction (stage 3): step-2 answers → edits → patches, predictions and reproduction tests."""
