"""Written by tuneplan for: trl lora (sft) of llama-3.1-8b on 8 x h100-80gb, fsdp-cp, seq 131072 tokens, checkpointing on, bf16

Expected training memory: 38.8 GiB per GPU (tuneplan's estimate; the tool's own peak may differ by a few %).
Fill in what is marked FILL-IN, then: accelerate launch --config_file accelerate.yaml train.py
"""
import torch
from datasets import load_dataset
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig
from trl import SFTConfig, SFTTrainer

MODEL = 'meta-llama/Llama-3.1-8B'
DATASET = 'FILL-IN: a Hub id or local path of your dataset (messages, or prompt and completion)'

CONFIG = {
    'output_dir': 'FILL-IN: where checkpoints and the adapter go, e.g. ./outputs/run-1',
    'max_length': 131072,
    'per_device_train_batch_size': 1,
    'gradient_accumulation_steps': 2,
    'num_train_epochs': 1,
    'learning_rate': 0.0002,
    'lr_scheduler_type': 'cosine',
    'bf16': True,
    'fp16': False,
    'gradient_checkpointing': True,
    'pad_to_multiple_of': 8,  # context parallelism needs sequences divisible by the GPU count
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
    trainer = SFTTrainer(
        model=model,
        args=SFTConfig(**CONFIG),
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=LoraConfig(**LORA) if LORA else None,
    )
    trainer.train()
    trainer.save_model()


if __name__ == "__main__":
    main()
