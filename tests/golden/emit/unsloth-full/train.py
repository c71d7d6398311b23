"""Written by tuneplan for: unsloth full (sft) of llama-3.2-1b on 1 x h100-80gb, seq 2048 tokens, checkpointing on, bf16

Expected training memory: 21.8 GiB per GPU (tuneplan's estimate; the tool's own peak may differ by a few %).
Fill in what is marked FILL-IN, then: python train.py
"""
from unsloth import FastLanguageModel  # first: Unsloth patches transformers and TRL when imported

from datasets import load_dataset
from trl import SFTConfig, SFTTrainer

MODEL = 'meta-llama/Llama-3.2-1B'
DATASET = 'FILL-IN: a Hub id or local path of your dataset (messages, or prompt and completion)'

LOAD = {
    'max_seq_length': 2048,
    'load_in_4bit': False,
    'full_finetuning': True,
}
LORA = {}
CONFIG = {
    'output_dir': 'FILL-IN: where checkpoints and the adapter go, e.g. ./outputs/run-1',
    'max_length': 2048,
    'per_device_train_batch_size': 1,
    'gradient_accumulation_steps': 16,
    'num_train_epochs': 1,
    'learning_rate': 2e-05,
    'lr_scheduler_type': 'cosine',
    'optim': 'adamw_8bit',  # Unsloth's notebooks' optimizer: 8-bit states, so the real peak is below the estimate (which counts 32-bit AdamW)
    'bf16': True,
    'fp16': False,
    'logging_steps': 10,
    'report_to': 'none',
}


def main() -> None:
    model, tokenizer = FastLanguageModel.from_pretrained(model_name=MODEL, dtype=None, **LOAD)
    if LORA:
        model = FastLanguageModel.get_peft_model(model, **LORA)
    dataset = load_dataset(DATASET, split="train")
    trainer = SFTTrainer(
        model=model,
        args=SFTConfig(**CONFIG),
        train_dataset=dataset,
        processing_class=tokenizer,
    )
    trainer.train()
    model.save_pretrained(CONFIG["output_dir"])
    tokenizer.save_pretrained(CONFIG["output_dir"])


if __name__ == "__main__":
    main()
