/**
 * The pattern registry: every detector scan runs, in priority order (on
 * overlapping candidates of equal length, the earlier family wins). Adding a
 * family is one file exporting a PatternDetector and one line here.
 */
import type { PatternDetector } from '../scanContext';
import { convBnDetector } from './convBn';
import { linearBnDetector } from './linearBn';
import { constantFoldDetector } from './constantFolds';
import { activationDetector } from './activation';
import { exporterFoldedDetector } from './exporterFolded';
import { loraBranchDetector } from './loraBranch';

export type { PatternDetector, PatternMatch, ScanContext } from '../scanContext';

export const PATTERN_DETECTORS: PatternDetector[] = [
  convBnDetector,
  linearBnDetector,
  constantFoldDetector,
  activationDetector,
  exporterFoldedDetector,
  loraBranchDetector,
];
