"""Package data of the embedded location model: the LoRA adapter, its manifest, the gazetteer."""
