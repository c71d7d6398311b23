"""Written by tuneplan for: trl lora (dpo) of llama-3.1-8b on 1 x h100-80gb, seq 2048 tokens, checkpointing on, bf16

Expected training memory: 24.4 GiB per GPU (tuneplan's estimate; the tool's own peak may differ by a few %).
Fill in what is marked FILL-IN, then: python train.py
"""
import torch
from datasets import load_dataset
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig
from trl import DPOConfig, DPOTrainer

MODEL = 'meta-llama/Llama-3.1-8B'
DATASET = 'FILL-IN: a Hub id or local path of a preference dataset (prompt, chosen, rejected)'

CONFIG = {
    'output_dir': 'FILL-IN: where checkpoints and the adapter go, e.g. ./outputs/run-1',
    'max_length': 2048,
    'per_device_train_batch_size': 1,
    'gradient_accumulation_steps': 16,
    'num_train_epochs': 1,
    'learning_rate': 5e-06,
    'lr_scheduler_type': 'cosine',
    'bf16': True,
    'fp16': False,
    'gradient_checkpointing': True,
    'beta': 0.1,
    'logging_steps': 10,
    'report_to': 'none',
}
LORA = {
    'r': 16,
    'lora_alpha': 32,
    'lora_dropout': 0.05,
    'target_modules': 'all-linear',
    'task_type': 'CAUSAL_LM',
}
QUANTIZATION = {}
DTYPE = torch.bfloat16


def main() -> None:
    model_kwargs = {"torch_dtype": DTYPE}
    if QUANTIZATION:
        model_kwargs["quantization_config"] = BitsAndBytesConfig(bnb_4bit_compute_dtype=DTYPE, **QUANTIZATION)
    model = AutoModelForCausalLM.from_pretrained(MODEL, **model_kwargs)
    tokenizer = AutoTokenizer.from_pretrained(MODEL)
    dataset = load_dataset(DATASET, split="train")
    trainer = DPOTrainer(
        model=model,
        args=DPOConfig(**CONFIG),
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=LoraConfig(**LORA) if LORA else None,
    )
    trainer.train()
    trainer.save_model()


if __name__ == "__main__":
    main()
