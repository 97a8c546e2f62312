"""Manual check (needs torch; not part of make test): transformers loads a directory written by
`autodidact convert SmolLM2...gguf DIR` and its greedy decoding reproduces the public reference.
usage: .venv-anchors/bin/python Tests/scripts/check_transformers_generate.py DIR"""
import json, sys, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
d = sys.argv[1]
m = AutoModelForCausalLM.from_pretrained(d, attn_implementation="eager").float().eval()
t = AutoTokenizer.from_pretrained(d)
ref = json.load(open(__import__("os").path.join(__import__("os").path.dirname(__file__), "../../../shared/fixtures/smollm2/reference-public.json")))["chatml_greedy"]
ids = t(ref["prompt_text"], add_special_tokens=False, return_tensors="pt").input_ids
assert ids[0].tolist() == ref["prompt_ids"], ids
out = m.generate(ids, max_new_tokens=16, do_sample=False)
new = out[0, ids.shape[1]:].tolist()
print(json.dumps({"new_ids": new, "matches_reference_prefix": new == ref["float32"]["new_ids"][:len(new)], "text": t.decode(new)}))
