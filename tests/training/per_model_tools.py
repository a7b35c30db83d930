"""The analysis tools a user of the per-model metrics layout (`checkpoints/{model}/{model}_epoch_{N}.json`)
brings, copied verbatim from that layout's documentation: load_checkpoint, analyze_training_progress,
compare_model_performance and validate_checkpoint. The one change: the os.walk loop, module-level
code there, is the body of `validate_all` here so a test can run it in a chosen folder."""
import json


def load_checkpoint(checkpoint_path):
    """Load checkpoint with full metadata."""
    with open(checkpoint_path, 'r') as f:
        checkpoint = json.load(f)
    
    return checkpoint


def analyze_training_progress(checkpoint_dir):
    """Analyze training progress across all checkpoints."""
    import os
    import matplotlib.pyplot as plt
    
    checkpoints = []
    for file in sorted(os.listdir(checkpoint_dir)):
        if file.endswith('.json'):
            checkpoint_path = os.path.join(checkpoint_dir, file)
            checkpoints.append(load_checkpoint(checkpoint_path))
    
    # Extract metrics
    epochs = [cp['epoch'] for cp in checkpoints]
    train_losses = [cp['metrics']['train']['loss'] for cp in checkpoints]
    val_losses = [cp['metrics']['val']['loss'] for cp in checkpoints]
    
    # Plot training curves
    plt.figure(figsize=(10, 6))
    plt.plot(epochs, train_losses, label='Train Loss', marker='o')
    plt.plot(epochs, val_losses, label='Val Loss', marker='s')
    plt.xlabel('Epoch')
    plt.ylabel('Loss')
    plt.title('Training Progress')
    plt.legend()
    plt.grid(True)
    plt.show()
    
    return checkpoints

def compare_model_performance():
    """Compare performance across different models."""
    models = {
        'GPT-2': 'checkpoints/gpt2/gpt2_epoch_3.json',
        'ViT': 'checkpoints/vit/vit_epoch_3.json', 
        'CLIP': 'checkpoints/clip/clip_epoch_6.json',
        'BERT': 'checkpoints/bert/bert_epoch_3.json'
    }
    
    results = {}
    for name, path in models.items():
        checkpoint = load_checkpoint(path)
        results[name] = {
            'train_loss': checkpoint['metrics']['train']['loss'],
            'val_loss': checkpoint['metrics']['val']['loss'],
            'training_time': checkpoint['metrics']['train']['time']
        }
    
    return results


def validate_checkpoint(checkpoint_path):
    """Validate checkpoint integrity and completeness."""
    try:
        checkpoint = load_checkpoint(checkpoint_path)
        
        # Required fields validation
        required_fields = ['epoch', 'step', 'config', 'metrics']
        for field in required_fields:
            assert field in checkpoint, f"Missing required field: {field}"
        
        # Metrics validation
        train_metrics = checkpoint['metrics']['train']
        val_metrics = checkpoint['metrics']['val']
        
        assert 'loss' in train_metrics, "Missing training loss"
        assert 'loss' in val_metrics, "Missing validation loss"
        
        # Performance bounds validation
        assert train_metrics['loss'] > 0, "Invalid training loss"
        assert val_metrics['loss'] > 0, "Invalid validation loss"
        
        print(f"✅ Checkpoint {checkpoint_path} is valid")
        return True
        
    except Exception as e:
        print(f"❌ Checkpoint {checkpoint_path} validation failed: {e}")
        return False


def validate_all():
    # Validate all checkpoints
    import os
    for root, dirs, files in os.walk('checkpoints'):
        for file in files:
            if file.endswith('.json'):
                validate_checkpoint(os.path.join(root, file))
