"""Manual check (not part of make test): an adapter directory Autodidact wrote (preference-train --lora-rank,
or a LoRA run's round-NN/model) loaded by PEFT on top of its base, against Autodidact's own log-probs of the
same sequences through the same directory.
usage: check_peft_adapter.py AUTODIDACT_BINARY ADAPTER_DIR BASE_HF_DIR
(BASE_HF_DIR: the base as a Hugging Face directory; for a GGUF base, the directory `autodidact convert` writes.)
Needs torch, transformers and peft (../shared/anchors/setup.sh, then pip install peft)."""
import json, subprocess, sys, tempfile
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

binary, adapter, base = sys.argv[1], sys.argv[2], sys.argv[3]
g = torch.Generator().manual_seed(3)
model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
vocab = model.config.vocab_size
seqs = [torch.randint(0, min(vocab, 20000), (n,), generator=g).tolist() for n in (9, 33, 70)]
peft_model = PeftModel.from_pretrained(model, adapter).eval()
with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
    for s in seqs:
        f.write(json.dumps({"ids": s}) + "\n")
out = subprocess.run([binary, "logprobs", "--model", adapter, "--input", f.name], check=True, capture_output=True, text=True).stdout
ours = [json.loads(line)["token_logprobs"] for line in out.strip().split("\n")]
worst = 0.0
moved = 0.0
with torch.no_grad():
    for s, o in zip(seqs, ours):
        ids = torch.tensor([s])
        lp = torch.log_softmax(peft_model(ids).logits[0, :-1].double(), -1).gather(1, ids[0, 1:, None])[:, 0]
        with peft_model.disable_adapter():
            lb = torch.log_softmax(peft_model(ids).logits[0, :-1].double(), -1).gather(1, ids[0, 1:, None])[:, 0]
        worst = max(worst, (lp - torch.tensor(o, dtype=torch.float64)).abs().max().item())
        moved = max(moved, (lp - lb).abs().max().item())
print(json.dumps({"sequences": len(seqs), "max_abs_logprob_difference_vs_peft": worst, "adapters_move_logprobs_by": moved}))
sys.exit(0 if worst < 1e-4 else 1)
