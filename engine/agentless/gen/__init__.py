"""Request generation: stage 1 (localization) and stage 2 (repair / test-writing prompts)."""
