/// The information entities of PS3.3's composite information model that a dataset's
/// metadata is normalized by: a patient has studies, a study has series, a series was made on
/// a piece of equipment and holds instances (images).
public enum InformationEntity: String, CaseIterable, Sendable {
    case patient, study, series, equipment, image
}

/// The attributes of the PS3.3 modules whose values describe an image for a dataset (what
/// ML datasets filter and group on), each with the information entity its module belongs
/// to. The one list of them: the ledger's metadata tables have these columns, in this order.
///
/// Sequences and binary values are left out (they are not one column's value); everything
/// else of the modules named is in.
public enum InformationModel {
    public struct Module: Sendable {
        /// The module's name in PS3.3 (and its section).
        public let name: String
        public let entity: InformationEntity
        /// Attribute keywords, as in PS3.6.
        public let keywords: [String]
    }

    public static let modules: [Module] = [
        Module(name: "Patient (C.7.1.1)", entity: .patient, keywords: [
            "PatientName", "PatientID", "IssuerOfPatientID", "TypeOfPatientID", "PatientBirthDate", "PatientBirthTime",
            "PatientSex", "QualityControlSubject", "PatientComments", "PatientSpeciesDescription", "PatientBreedDescription",
            "ResponsiblePerson", "ResponsiblePersonRole", "ResponsibleOrganization", "PatientIdentityRemoved",
            "DeidentificationMethod", "StrainDescription", "StrainNomenclature", "StrainAdditionalInformation",
        ]),
        Module(name: "General Study (C.7.2.1)", entity: .study, keywords: [
            "StudyInstanceUID", "StudyDate", "StudyTime", "ReferringPhysicianName", "StudyID", "AccessionNumber",
            "StudyDescription", "PhysiciansOfRecord", "NameOfPhysiciansReadingStudy",
        ]),
        Module(name: "Patient Study (C.7.2.2)", entity: .study, keywords: [
            "AdmittingDiagnosesDescription", "PatientAge", "PatientSize", "PatientWeight", "PatientBodyMassIndex",
            "MeasuredAPDimension", "MeasuredLateralDimension", "MedicalAlerts", "Allergies", "SmokingStatus",
            "PregnancyStatus", "LastMenstrualDate", "PatientState", "AdmissionID", "ServiceEpisodeID",
            "ServiceEpisodeDescription", "Occupation", "AdditionalPatientHistory", "PatientSexNeutered",
        ]),
        Module(name: "General Series (C.7.3.1)", entity: .series, keywords: [
            "Modality", "SeriesInstanceUID", "SeriesNumber", "Laterality", "SeriesDate", "SeriesTime",
            "PerformingPhysicianName", "ProtocolName", "SeriesDescription", "OperatorsName", "BodyPartExamined",
            "PatientPosition", "SmallestPixelValueInSeries", "LargestPixelValueInSeries", "PerformedProcedureStepID",
            "PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime", "PerformedProcedureStepEndDate",
            "PerformedProcedureStepEndTime", "PerformedProcedureStepDescription", "CommentsOnThePerformedProcedureStep",
            "AnatomicalOrientationType",
        ]),
        Module(name: "General Equipment (C.7.5.1)", entity: .equipment, keywords: [
            "Manufacturer", "InstitutionName", "InstitutionAddress", "StationName", "InstitutionalDepartmentName",
            "ManufacturerModelName", "DeviceSerialNumber", "SoftwareVersions", "GantryID", "DeviceUID",
            "SpatialResolution", "DateOfLastCalibration", "TimeOfLastCalibration",
        ]),
        Module(name: "SOP Common (C.12.1)", entity: .image, keywords: ["SOPClassUID", "SOPInstanceUID"]),
        Module(name: "General Image (C.7.6.1)", entity: .image, keywords: [
            "InstanceNumber", "PatientOrientation", "ContentDate", "ContentTime", "ImageType", "AcquisitionNumber",
            "AcquisitionDate", "AcquisitionTime", "AcquisitionDateTime", "ImagesInAcquisition", "ImageComments",
            "QualityControlImage", "BurnedInAnnotation", "RecognizableVisualFeatures", "LossyImageCompression",
            "LossyImageCompressionRatio", "LossyImageCompressionMethod", "PresentationLUTShape", "IrradiationEventUID",
        ]),
        Module(name: "Image Plane (C.7.6.2)", entity: .image, keywords: [
            "PixelSpacing", "ImageOrientationPatient", "ImagePositionPatient", "SliceThickness", "SpacingBetweenSlices",
            "SliceLocation",
        ]),
        Module(name: "Image Pixel (C.7.6.3)", entity: .image, keywords: [
            "SamplesPerPixel", "PhotometricInterpretation", "Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit",
            "PixelRepresentation", "PlanarConfiguration", "PixelAspectRatio", "SmallestImagePixelValue",
            "LargestImagePixelValue",
        ]),
        // What datasets of radiographs, CT and MR are filtered and grouped by, from the
        // modality modules (DX, CR, CT, MR), VOI LUT, Modality LUT and Multi-frame.
        Module(name: "Acquisition (DX C.8.11.7, CR C.8.1.2, CT C.8.2.1, MR C.8.3.1, Multi-frame C.7.6.6, Modality LUT C.11.1, VOI LUT C.11.2)",
               entity: .image, keywords: [
            "NumberOfFrames", "ViewPosition", "ImageLaterality", "PresentationIntentType", "ImagerPixelSpacing",
            "RescaleIntercept", "RescaleSlope", "RescaleType", "WindowCenter", "WindowWidth", "KVP", "ExposureTime",
            "XRayTubeCurrent", "Exposure", "DistanceSourceToDetector", "DistanceSourceToPatient", "ConvolutionKernel",
            "ScanOptions", "ContrastBolusAgent", "MagneticFieldStrength", "EchoTime", "RepetitionTime",
            "ScanningSequence", "SequenceVariant",
        ]),
    ]

    /// The entity whose table holds this keyword's column, when one of the modules lists it.
    public static func entity(of keyword: String) -> InformationEntity? {
        entityByKeyword[keyword]
    }

    private static let entityByKeyword: [String: InformationEntity] = {
        var map: [String: InformationEntity] = [:]
        for module in modules {
            for keyword in module.keywords where map[keyword] == nil { map[keyword] = module.entity }
        }
        return map
    }()
}

/// How an attribute's values are kept in one column: the column type follows the
/// dictionary's VR and VM (PS3.6).
public enum AttributeColumnKind: Sendable, Equatable {
    case text
    /// DA, as ISO 8601 `YYYY-MM-DD`.
    case date
    /// TM, as ISO 8601 `HH:MM:SS.ffffff` (as many parts as the value has).
    case time
    /// DT, as ISO 8601 `YYYY-MM-DDTHH:MM:SS.ffffff±HH:MM`.
    case dateTime
    /// IS, US, SS, UL, SL, SV, UV.
    case integer
    /// DS, FL, FD.
    case real

    /// The kind for a dictionary entry, and whether it holds several values (VM other than
    /// 1: kept as a JSON array); nil for what is not one column's value (sequences, bytes,
    /// retired or unknown VRs).
    public static func of(_ entry: DictionaryEntry) -> (kind: AttributeColumnKind, multiValued: Bool)? {
        let kind: AttributeColumnKind
        switch entry.vr {
        case .usOrSS: kind = .integer
        case .single(let vr):
            switch vr {
            case .DA: kind = .date
            case .TM: kind = .time
            case .DT: kind = .dateTime
            case .IS, .US, .SS, .UL, .SL, .SV, .UV: kind = .integer
            case .DS, .FL, .FD: kind = .real
            case .AE, .AS, .CS, .LO, .LT, .PN, .SH, .ST, .UC, .UI, .UR, .UT: kind = .text
            default: return nil
            }
        default: return nil
        }
        return (kind, entry.multiplicity != "1")
    }
}
