"""TRL's DPOTrainer with a PEFT LoRA config on a real model (a Hugging Face directory, e.g. the one
`autodidact convert` writes from a GGUF): PAIRS pairs per step of PROMPT + COMPLETION tokens (random token
ids decoded to text, re-tokenized by TRL: the lengths it trained on are reported), LoRA of rank R on all seven
projections (alpha 2R, no dropout), sigmoid loss, beta 0.1. Reference log-probs precomputed once
(precompute_ref_log_probs, with the adapters off), as Autodidact stores them with the pairs.
usage: trl_dpo_lora.py DIR PAIRS PROMPT COMPLETION RANK THREADS [STEPS]"""
import json, os, statistics, sys, time
import torch
from datasets import Dataset
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
import trl
from trl import DPOConfig, DPOTrainer

path, P, PL, CL, R, T = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
STEPS = int(sys.argv[7]) if len(sys.argv) > 7 else 6
torch.set_num_threads(T)
results = os.environ.get("ANCHOR_RESULTS", "bench-results/anchors")
tok = AutoTokenizer.from_pretrained(path)
if tok.pad_token is None:
    tok.pad_token = tok.eos_token
g = torch.Generator().manual_seed(7)
def text(n):
    return tok.decode(torch.randint(1000, 20000, (n,), generator=g).tolist())
rows = [dict(prompt=text(PL), chosen=text(CL), rejected=text(CL)) for _ in range(P * STEPS)]
model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation="sdpa")
peft_config = LoraConfig(r=R, lora_alpha=2 * R, lora_dropout=0.0, bias="none", task_type="CAUSAL_LM",
                         target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
args = DPOConfig(output_dir=os.path.join(results, "trl_lora_out"), per_device_train_batch_size=P, gradient_accumulation_steps=1,
                 max_steps=STEPS, learning_rate=1e-6, lr_scheduler_type="constant", warmup_steps=0, beta=0.1, loss_type=["sigmoid"],
                 max_length=4 * (PL + CL), precompute_ref_log_probs=True, logging_steps=1, save_strategy="no", report_to="none",
                 use_cpu=True, bf16=False, fp16=False, dataloader_num_workers=0, seed=0, gradient_checkpointing=False)

class StepTimer(TrainerCallback):
    def __init__(self): self.ts = []; self.t0 = None
    def on_step_begin(self, a, s, c, **k): self.t0 = time.perf_counter()
    def on_step_end(self, a, s, c, **k): self.ts.append(time.perf_counter() - self.t0)
timer = StepTimer()
trainer = DPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok, peft_config=peft_config,
                     callbacks=[timer])
ds = trainer.train_dataset
lens = [(len(r["prompt_ids"]), len(r["chosen_ids"]), len(r["rejected_ids"])) for r in ds]
trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
trainer.train()
steady = timer.ts[2:] if len(timer.ts) > 3 else timer.ts
res = dict(bench="trl_dpo_lora", trl=trl.__version__, model=os.path.basename(os.path.normpath(path)).lower(), pairs=P, rank=R, threads=T,
           trainable=trainable, mean_prompt_len=statistics.mean(l[0] for l in lens), mean_chosen_len=statistics.mean(l[1] for l in lens),
           mean_rejected_len=statistics.mean(l[2] for l in lens), step_times_s=timer.ts, median_s=statistics.median(steady),
           torch=torch.__version__)
os.makedirs(results, exist_ok=True)
json.dump(res, open(f"{results}/trl_dpo_lora_{res['model']}_r{R}_p{P}_t{T}.json", "w"), indent=1)
print(json.dumps(res))
