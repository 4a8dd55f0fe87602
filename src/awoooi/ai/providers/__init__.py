"""Chat backends: OpenAI-compatible (NIM, vLLM, OpenAI) and Ollama."""
