"""The rules, one class each (MLX001...), grouped in modules by what they read.

Job: list every rule class once, in id order, for the engine and the flake8 plugin.

Must not import: mlx, anything of mlxprobe outside `mlxprobe.lint`.
"""

from __future__ import annotations

from .absent_key import KeyNeverReturned
from .accumulation import IndexedAugmentedAssignment
from .activations import ActivationOnModule
from .adapters import FreezeAfterAdapters, FrozenThenTrained
from .adaptive_scale import PartGradientScaledForAdam
from .alignment import MaskShiftedLikeInputs
from .api import MissingMlxApi
from .arange_scalar import ArangeOfArrayScalar
from .argnums import GradOfIndices
from .argument_count import GradOfMissingArgument
from .argument_order import ArgumentsOutOfOrder
from .argument_slot import ArgumentInAnotherSlot
from .arguments import FlatKeysToUpdate, ModuleThroughCompile
from .array_or import ArrayOrDefault
from .array_slice import ArraySliceBound
from .array_truth import ArrayAttributeTruth
from .axes import NoAxisNormalisation
from .axis_forwarding import AxisNotForwarded
from .base import Rule
from .batch_membership import BatchMembership
from .bfloat16_numpy import Bfloat16ToNumpy
from .boolean_add import BooleanMaskAdded
from .boolean_index import BooleanMaskIndex
from .boolean_infinity import BooleanTimesInfinity
from .built_per_step import ModuleBuiltPerStep
from .call_arity import LocalCallArity
from .callable_rebound import CallableRebound
from .captures import CompiledReadsStaleModel
from .channels_first import ChannelsFirstConv2d
from .clamp_reduction import ReductionAsClamp
from .collectives import CollectiveOnSomeRanks
from .compiled import CompiledStateIncomplete, TracedBranch, TracedNumber
from .compiled_schedule import CompiledHostSchedule
from .constant_shape import ConstantShapeTest
from .constant_tables import ConstantTableTrained
from .construction import ModuleWithoutSuperInit
from .contracts import ClipPairAsGrads, ClippedUnused, NestedTreeSaved, ZeroEpsilon
from .conv_output import ConvOutputChannelsFirst
from .conversions import CompiledConvertsArgument
from .copies import SliceWriteLost
from .count_cap import CountCappedAtOne
from .custom_vjp import ModuleInCustomFunction
from .dead_none_test import NoneThenTested
from .decay_term import DecayAddedAsNumber
from .detached_term import DetachedLossTerm
from .differentiation import ClampAfterSingular, ModelOutsideGrad, StepFunctionInGrad
from .discarded import DiscardedResult
from .divisors import UnguardedMaskCount, WarmupByOption
from .dotted_keys import DottedKeysOfNestedTree
from .dotted_path import DottedPathGetattr
from .double_bos import DoubleBos
from .double_update import DoubleUpdate
from .dropout_eval import DropoutAtEvaluation
from .dropped_input import DroppedInput
from .dropped_keyword import KeywordDropped
from .dropped_mask import DroppedMask
from .dropped_path import DroppedWeightsPath
from .dropped_selection import DroppedSelection
from .ellipsis_slice import EllipsisSlice
from .empty_dirname import MakedirsOfEmptyDirname
from .empty_parameter import EmptyParameter
from .eval_context import EvalAsContext
from .eval_mode import TrainedInEvalMode
from .evaluation import LazyLossKept, LazyPassTotal, UpdateWithoutEval
from .extra_positional import ExtraPositional
from .falsy_seed import FalsySeed
from .flag_none import FlagTestedAgainstNone
from .flat_update import FlatUpdateNonStrict, FlatUpdateStrict
from .forward_method import ForwardWithoutCall
from .forwarded_keywords import ForwardedKeywords
from .freeze_shared import FreezeShared
from .freezing import KeysMisspelled, KeysNameSubmodule
from .frozen_count import CountNeverAdvanced
from .frozen_differentiated import FrozenDifferentiated
from .gate_matmul import GateMatmul
from .generator_operand import GeneratorOperand
from .grad_targets import ObjectDifferentiated
from .gradients import (
    MxGradUnusedArgument,
    SwallowedGradError,
    UnaveragedAccumulation,
    ZeroedGradsFreeze,
)
from .group_number import GroupAsNumber
from .grown_list import ListAttributeGrown
from .guards import NanPassesGuard
from .half_range import HalfRangeConstant
from .half_roundtrip import HalfRoundTrip
from .host import HostRoundTrip
from .host_schedule import HostValuedSchedule
from .huber import SignedHuber
from .ignore_index import IgnoreIndexUnmasked
from .index_dtype import CastToIndexDtype
from .indices import GatherByLearnedIndices, ScatterByLearnedIndices
from .inert_scale import InertScale
from .init_scale import InitGrowsWithWidth
from .inverse_scale import DividedByInverseRoot
from .inverted_ratio import InvertedRatio
from .iterated_count import IteratedCount
from .iterated_dimension import DimensionIterated
from .iterated_target import LoopTargetIterated
from .iterator_length import LenOfIterator
from .jax_spellings import JaxSpelling
from .json_array import ArrayToJson
from .keep_mask_added import KeepMaskAdded
from .kept_state import KeptState
from .keywords import UnknownKeyword
from .layer_clobbered import LayerReplacedByArray
from .layer_loop import LayerLoopDropsOutput
from .layer_on_array import LayerOnArray
from .layers import Conv1dChannelsFirst, CustomModuleContainer
from .lazy_bank import LazyBank
from .leaves import NumberInDifferentiatedTree
from .list_index import ListIndexedByArray
from .loading import SilentPartialLoad
from .loop_target import LoopTargetRebindsArray
from .lora_keys import LoraKeysMatchNothing
from .lora_scale import AlphaWithoutRank
from .loss_constructor import LossCalledAsConstructor
from .losses import LabelShiftBatchAxis, LogSoftmaxWithoutLabels, UnshiftedLabels
from .mask_dtype import Float32MaskHalfAttention
from .masked_exp import MaskedAfterExp
from .masks import InfiniteMaskSoftmax
from .missing_argument import WrappedCallMissingArgument
from .misspelt_attribute import MisspeltModuleAttribute
from .module_argument import ModuleArgument
from .modules import (
    BatchNormStatsNeverEvaluated,
    CheckpointOverModule,
    ConstantInitEverywhere,
)
from .moments import VarianceByMoments
from .mutated_input import MutatedInput
from .names_match import TargetsMatchNoLayer, TypeIdentityWithSubclass
from .nested_period import NestedPeriod
from .nested_values import NestedTreeIteratedFlat
from .no_return_used import NoReturnUsed
from .none_overwritten import NoneTestOverwritten
from .none_unpacked import NoneUnpacked
from .number_reset import ArrayResetToNumber
from .numerics import HalfPrecisionTraining, LogOfProbability, UnguardedStandardisation
from .numpy_index import NumpyIndex
from .numpy_left import NumpyLeftOperand
from .objectives import NllOnScores, ProbabilitiesAsLogits, SimilarityMinimised
from .once import BreaksAtOnce
from .one_pass import ZipStopsAtOnePass
from .optimizer_methods import MissingOptimizerMethod
from .optimizers import ReturnsTheStep, SecondMomentOfWeights
from .outputs_kept import ModelOutputKept
from .overflow import UnstableSigmoidSoftmax
from .overrides import UpdateOverrideBypassed
from .overwritten_loss import LayerOutputUnread, LossOverwrittenUnread
from .overwritten_sum import OverwrittenAccumulation
from .padded import PaddedToLongestCompiled
from .pairs import PairsShuffledApart
from .path_weights import PathToWeights
from .positional_flag import PositionalFlag
from .precision import Bfloat16SmallSteps, HalfSquareOverflow
from .prefix_load import SubmoduleCheckpointLoaded
from .private_chain import PrivateChain
from .private_layers import PrivateLayers
from .private_state import PrivateState
from .processes import ForkAfterMlx
from .quantization import QuantizedThenLoaded, QuantizedThenTrained
from .quantize_arguments import QuantizeArguments
from .quantized_selection import LinearTestAfterQuantize
from .random_arguments import RandomArguments
from .random_state import RandomStateAssigned
from .range_divisor import RangeDivisor
from .read_before_bound import ReadBeforeBound
from .rebound_accumulator import ReboundAccumulator
from .rebuilt_logits import LogitsRebuiltWithoutScale
from .reduction import PerExampleLossGrad, SummedBatchLoss
from .reference_alias import ReferenceIsTheModel
from .renamed_wrap import WrapUnderNewName
from .replayed_random import ReplayedRandom
from .restarted_iterator import RestartedIteratorLost
from .retrace import ScalarIntoCompiled
from .return_count import ReturnCountUnpacked
from .returned_input import ReturnedInput
from .safetensors_dir import SafetensorsIntoDirectory
from .save_tree import SaveOfTree
from .scalar_masked import ScalarMasked
from .scalar_unpack import ScalarUnpacked
from .schedule_as_rate import ScheduleAsRate
from .schedules import ScheduleEndsInOneEpoch
from .self_added import SelfAdded
from .sequential_call import SequentialCall
from .settings import DefaultHidesConfig, SettingNeverRead
from .shadowed_import import ShadowedImport
from .shadowing import CalledNumber
from .shape_list import ShapePlusList
from .shape_only import ShapeOnlyArgument
from .shape_written import ShapeWrittenByIndex
from .shapeless import ShapelessCompileReadsShape
from .share_first import ShareDividedFirst
from .siblings import UnusedSibling
from .signed_norm import SignedNorm
from .single_example_norm import SingleExampleNorm
from .single_output import SingleOutputUnpacked
from .singleton_slice import SliceIntoSingletonAxis
from .skipped import GradientsNotAccumulated
from .skipped_update import ShapeSkippedUpdate
from .slices import ReductionIntoBatchSlice
from .snapshots import DerivedOnce
from .softmax_axis import SoftmaxOverAll
from .softplus import HandWrittenSoftplus
from .spent_iterator import SpentIterator
from .stale_item import StaleLoopItem
from .state import GradsNeverApplied, PrivateWeight, StateNeverEvaluated
from .state_key import StateKeyNeverWritten
from .state_trained import StateAttributeTrained
from .stopping import StoppedLayer
from .streams import ForeignStream, StreamPerStep
from .subset_load import SubsetLoad
from .temporary_write import WriteIntoTemporary
from .text_truth import TextTruth
from .threads import ArraysIntoThread, CrossThreadArrays, GlobalArrayIntoThread
from .torch_methods import TorchMethodOnArray
from .torch_module_methods import TorchModuleMethod
from .torch_spellings import GradOfAnArray
from .traced_raise import RaiseInCompiledCaught
from .tracing import EvalUnderCompile
from .transforms import (
    CompiledStateUncaptured,
    GradientCut,
    GradKeywordCall,
    NoGradientOp,
)
from .tree_iteration import TreeIteratedAsLeaves
from .tree_operand import TreeIntoArrayOp
from .tree_paths import PathAsKeys
from .trees import TreeFlattenPairs
from .truncated_interval import TruncatedInterval
from .truncation import TruncationAsTerminal
from .tuple_precedence import ConditionalInTuple
from .unapplied import UnappliedLayer
from .unbound import UnboundName
from .undefined_option import UndefinedOption
from .unflatten import KeysNestedByHand
from .unguarded_default import DefaultUsedBeforeGuard
from .unpacked_transform import UnpackedTransform
from .unread_parameter import UnreadParameter
from .unrolled import DeepUnrolledLoop
from .unset_attribute import UnsetAttribute
from .unused_hook import UnusedHook
from .unused_layer import UnusedLayer
from .unused_step import UnusedStep
from .update_copy import UpdateGivenParameterDict
from .update_target import UpdateIntoDict
from .views import KeptSliceView
from .weight_glob import BareWeightGlob
from .weight_suffix import WeightFileSuffix
from .window_arguments import WindowNotPositive
from .zero_default_divisor import ZeroDefaultDivisor

ALL: tuple[type[Rule], ...] = tuple(sorted((
    RestartedIteratorLost,
    ShapeOnlyArgument,
    ModuleBuiltPerStep, StateAttributeTrained, UndefinedOption, BooleanTimesInfinity,
    QuantizeArguments, DecayAddedAsNumber, ShapePlusList, ShapeSkippedUpdate, ListAttributeGrown,
    UpdateGivenParameterDict, SpentIterator, IgnoreIndexUnmasked, ArgumentInAnotherSlot,
    DividedByInverseRoot, WriteIntoTemporary, BooleanMaskAdded, ConvOutputChannelsFirst,
    DroppedWeightsPath,
    SingleExampleNorm,
    NoneUnpacked,
    TruncatedInterval,
    ConstantShapeTest,
    SignedNorm,
    ArrayAttributeTruth,
    CountCappedAtOne,
    ShareDividedFirst,
    ArraySliceBound,
    NumpyLeftOperand,
    LayerLoopDropsOutput,
    ScalarMasked,
    PositionalFlag,
    GroupAsNumber,
    UnpackedTransform,
    ForwardWithoutCall,
    LinearTestAfterQuantize,
    RaiseInCompiledCaught,
    ArrayToJson,
    SingleOutputUnpacked,
    FlatUpdateStrict,
    ConstantTableTrained,
    NestedTreeIteratedFlat,
    ChannelsFirstConv2d,
    DroppedMask,
    BatchMembership,
    ArangeOfArrayScalar,
    BooleanMaskIndex,
    MissingOptimizerMethod,
    BareWeightGlob,
    DottedKeysOfNestedTree,
    DropoutAtEvaluation,
    UnknownKeyword,
    ArrayResetToNumber,
    FalsySeed,
    LogitsRebuiltWithoutScale,
    HostValuedSchedule,
    TruncationAsTerminal,
    LayerReplacedByArray,
    GeneratorOperand,
    DottedPathGetattr,
    NumpyIndex,
    ScalarUnpacked,
    LoopTargetRebindsArray,
    UnappliedLayer,
    CompiledReadsStaleModel, CompiledConvertsArgument, GradOfAnArray, TreeIteratedAsLeaves,
    ScheduleEndsInOneEpoch, ZipStopsAtOnePass, Bfloat16ToNumpy, Float32MaskHalfAttention,
    KeysNestedByHand, GradOfMissingArgument, HalfRangeConstant, TrainedInEvalMode,
    WrappedCallMissingArgument, DetachedLossTerm, ReplayedRandom, HandWrittenSoftplus,
    WrapUnderNewName, OverwrittenAccumulation,
    UpdateWithoutEval, LogSoftmaxWithoutLabels, MxGradUnusedArgument, TreeFlattenPairs,
    UnaveragedAccumulation, SwallowedGradError, LabelShiftBatchAxis, LazyLossKept,
    Conv1dChannelsFirst, ZeroedGradsFreeze, UnshiftedLabels, SilentPartialLoad,
    CustomModuleContainer, StateNeverEvaluated, EvalUnderCompile, GradientCut, GradKeywordCall,
    PerExampleLossGrad, PrivateWeight, ClampAfterSingular, GradsNeverApplied, LogOfProbability,
    CompiledStateUncaptured, NoGradientOp, HalfPrecisionTraining, CrossThreadArrays,
    ModuleWithoutSuperInit, UnguardedStandardisation, QuantizedThenTrained,
    ClipPairAsGrads, NestedTreeSaved, ZeroEpsilon, ModelOutsideGrad, StepFunctionInGrad,
    InfiniteMaskSoftmax, StoppedLayer, MissingMlxApi, GatherByLearnedIndices,
    NumberInDifferentiatedTree, ReductionIntoBatchSlice, UnguardedMaskCount, WarmupByOption,
    VarianceByMoments, KeysNameSubmodule, QuantizedThenLoaded, Bfloat16SmallSteps,
    UnboundName, HalfSquareOverflow, MaskShiftedLikeInputs, ArraysIntoThread, ForeignStream,
    StreamPerStep, CompiledStateIncomplete, ConstantInitEverywhere,
    BatchNormStatsNeverEvaluated, CheckpointOverModule, TypeIdentityWithSubclass,
    TargetsMatchNoLayer, FlatUpdateNonStrict, TracedBranch, KeptSliceView,
    ScatterByLearnedIndices, IndexedAugmentedAssignment, UnstableSigmoidSoftmax,
    ShapelessCompileReadsShape, ForkAfterMlx, NllOnScores, SimilarityMinimised,
    HostRoundTrip, SliceWriteLost, DerivedOnce, SecondMomentOfWeights,
    CollectiveOnSomeRanks, ScalarIntoCompiled, PairsShuffledApart, ModuleInCustomFunction,
    SignedHuber, NoAxisNormalisation, CalledNumber,
    UnusedSibling, DeepUnrolledLoop, ReturnsTheStep, NanPassesGuard, SettingNeverRead,
    DefaultHidesConfig, ProbabilitiesAsLogits, ActivationOnModule, TracedNumber,
    GradientsNotAccumulated, SummedBatchLoss, GradOfIndices, UpdateOverrideBypassed,
    KeysMisspelled, RandomStateAssigned, PrivateLayers, FreezeAfterAdapters,
    FrozenThenTrained, ClippedUnused, BreaksAtOnce, ModuleThroughCompile, FlatKeysToUpdate,
    DiscardedResult, AlphaWithoutRank, PaddedToLongestCompiled, ModelOutputKept, PathAsKeys,
    ObjectDifferentiated, UpdateIntoDict, UnusedStep, FrozenDifferentiated, MaskedAfterExp,
    JaxSpelling, TorchMethodOnArray, StateKeyNeverWritten, ReferenceIsTheModel,
    CompiledHostSchedule, TreeIntoArrayOp, LossCalledAsConstructor,
    SoftmaxOverAll, ReductionAsClamp, ReturnCountUnpacked, LazyPassTotal,
    FlagTestedAgainstNone, ArgumentsOutOfOrder, NoneTestOverwritten,
    NoneThenTested, SliceIntoSingletonAxis, LossOverwrittenUnread,
    LocalCallArity, DefaultUsedBeforeGuard, TorchModuleMethod,
    SelfAdded, LayerOutputUnread, UnreadParameter, HalfRoundTrip, PrivateState,
    ExtraPositional, LazyBank, SubsetLoad, DoubleBos, InertScale, TextTruth, FreezeShared,
    CastToIndexDtype, UnsetAttribute, ScheduleAsRate, RangeDivisor, SaveOfTree,
    EvalAsContext, ShadowedImport, PathToWeights, LoopTargetIterated, ListIndexedByArray,
    InitGrowsWithWidth, LoraKeysMatchNothing, NoReturnUsed,
    GateMatmul, ModuleArgument, WindowNotPositive, CallableRebound,
    ReadBeforeBound, GlobalArrayIntoThread, MutatedInput, ConditionalInTuple,
    LenOfIterator, NestedPeriod, ReboundAccumulator, DimensionIterated, EllipsisSlice,
    UnusedHook,
    PrivateChain,
    KeepMaskAdded,
    MisspeltModuleAttribute,
    ArrayOrDefault,
    SafetensorsIntoDirectory,
    MakedirsOfEmptyDirname,
    ZeroDefaultDivisor,
    ForwardedKeywords,
    StaleLoopItem,
    DoubleUpdate,
    UnusedLayer,
    DroppedInput,
    ReturnedInput,
    SequentialCall,
    KeptState,
    EmptyParameter,
    WeightFileSuffix,
    AxisNotForwarded,
    RandomArguments,
    LayerOnArray,
    ShapeWrittenByIndex,
    SubmoduleCheckpointLoaded,
    KeywordDropped,
    KeyNeverReturned,
    CountNeverAdvanced,
    DroppedSelection,
    IteratedCount,
    InvertedRatio,
    PartGradientScaledForAdam,
), key=lambda r: r.id))
