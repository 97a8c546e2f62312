"""Manual check (needs torch; not part of make test): transformers loads a directory written by
`autodidact convert MODEL.gguf DIR` and its greedy decoding reproduces a reference.
usage: .venv-anchors/bin/python Tests/scripts/check_transformers_generate.py DIR [QWEN_FIXTURE.json]
Without a fixture: SmolLM2's public reference (../shared/fixtures/smollm2/reference-public.json). With
../shared/fixtures/families/qwen25-coder-gguf.json: the chat template's prompt for its question and the 12
greedy tokens transformers gives on the GGUF itself."""
import json, os, sys, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
d = sys.argv[1]
m = AutoModelForCausalLM.from_pretrained(d, attn_implementation="eager").float().eval()
t = AutoTokenizer.from_pretrained(d)
if len(sys.argv) > 2:
    ref = json.load(open(sys.argv[2]))["greedy"]
    ids = t.apply_chat_template([{"role": "user", "content": ref["prompt"]}], add_generation_prompt=True, return_tensors="pt")
    ids = ids if torch.is_tensor(ids) else ids["input_ids"]
    out = m.generate(ids, max_new_tokens=len(ref["ids"]), do_sample=False)
    new = out[0, ids.shape[1]:].tolist()
    print(json.dumps({"new_ids": new, "matches_reference": new == ref["ids"], "text": t.decode(new)}))
    sys.exit(0 if new == ref["ids"] else 1)
ref = json.load(open(os.path.join(os.path.dirname(__file__), "../../../shared/fixtures/smollm2/reference-public.json")))["chatml_greedy"]
ids = t(ref["prompt_text"], add_special_tokens=False, return_tensors="pt").input_ids
assert ids[0].tolist() == ref["prompt_ids"], ids
out = m.generate(ids, max_new_tokens=16, do_sample=False)
new = out[0, ids.shape[1]:].tolist()
print(json.dumps({"new_ids": new, "matches_reference_prefix": new == ref["float32"]["new_ids"][:len(new)], "text": t.decode(new)}))
