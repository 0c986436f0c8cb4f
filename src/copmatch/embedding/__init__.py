"""Embedding: encoders (sentence-transformers, ONNX), the choice between them, the ONNX
export and its registry, chunking, micro-batching, and the text-hash cache."""
