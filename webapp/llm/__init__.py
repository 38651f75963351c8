"""LLM engines behind one interface: the offline local engine and Gemini (google-genai)."""
