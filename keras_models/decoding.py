"""Greedy decoding of a response from a trained model (beam search comes with evaluation)."""
import tensorflow as tf

from preprocessing.vocab import BOS_ID, EOS_ID, PAD_ID, UNK_ID

BANNED = (PAD_ID, UNK_ID, BOS_ID)  # never generated


def greedy_decode(model, context, max_length=30):
    """Context utterances [B, T, L] -> response token ids [B, <= max_length] (</s>, 0-padded)."""
    condition = model.response_condition(context)
    state = model.decoder.initial_state(condition)
    batch = tf.shape(condition)[0]
    token = tf.fill([batch], BOS_ID)
    ban = tf.scatter_nd([[i] for i in BANNED], [-1e9] * len(BANNED), [model.vocab_size])
    finished = tf.zeros([batch], tf.bool)
    output = []
    for _ in range(max_length):
        states, state = model.decoder.run(token[:, None], state)
        logits = model.decoder.logits(states[:, 0]) + ban
        token = tf.where(finished, PAD_ID, tf.argmax(logits, -1, output_type=tf.int32))
        output.append(token)
        finished |= token == EOS_ID
        if bool(tf.reduce_all(finished)):
            break
    return tf.stack(output, 1)


def ids_to_text(ids, vocab):
    """Token ids (stops at </s> or padding) -> a space-joined string."""
    words = []
    for i in ids:
        i = int(i)
        if i in (EOS_ID, PAD_ID):
            break
        words.append(vocab[i])
    return " ".join(words)
