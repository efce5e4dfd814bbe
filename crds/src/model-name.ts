import { z } from 'zod';

// What agents put in the request's `model` field. Besides plain names, this admits the shapes
// clients really send: dated versions (claude-opus-4-5-20251101), routers' vendor prefixes
// (anthropic/claude-sonnet-5), tags (llama3:70b) and Bedrock-style ids (…-v1:0).
const modelNamePattern = /^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$/;

/** A model name as clients send it; shared by Model names and aliases and by limit filters. */
export const modelNameSchema = z
  .string()
  .min(1)
  .max(256)
  .regex(modelNamePattern, 'must start with a letter or digit and contain only letters, digits and . _ : / @ + -');
